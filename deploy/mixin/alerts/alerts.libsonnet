(import 'service.libsonnet') + (import 'infrastructure.libsonnet') + (import 'slo.libsonnet') + (import 'pgbackrest.libsonnet')
