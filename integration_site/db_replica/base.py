"""
The database backend of read replicas (settings: DATABASE_REPLICA_URL): PostgreSQL's, with
one addition. An error that means the replica went away (refused, cut, shut down) or that it
cancelled a read to replay the primary's changes is reported to `integration_site.replicas`
before it propagates, so the replica is taken out of use at once and the request that met it
is answered again from the primary. Django wraps every connect and every statement of a
connection in `wrap_database_errors`, so this is the one place that sees them all.
"""

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

from integration_site.replicas import replica_error_seen


class ReplicaErrorWrapper(DatabaseErrorWrapper):
    def __exit__(self, exc_type, exc_value, traceback):
        try:
            super().__exit__(exc_type, exc_value, traceback)
        except Exception as error:
            replica_error_seen(self.wrapper.alias, error)
            raise


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    @cached_property
    def wrap_database_errors(self):
        return ReplicaErrorWrapper(self)
