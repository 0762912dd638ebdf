"""Errors of the storage layer.

StorageError
├── StorageConfigError     SIGNOFF_DATABASE_URL is wrong; the message says how to fix it
│   └── SchemaMismatch     the database's schema is one this code may not serve on (older, or too new)
├── DatabaseUnavailable    the database cannot be reached right now; retry later
├── NotFound               no such thread or request
├── Conflict               the thread changed under us (another writer); retry the step
└── StoreClosed            a call after the AsyncStore was closed (a stop's last step); a bug in the stop order
"""


class StorageError(Exception):
    pass


class StorageConfigError(StorageError):
    pass


class SchemaMismatch(StorageConfigError):
    pass


class DatabaseUnavailable(StorageError):
    pass


class NotFound(StorageError):
    pass


class Conflict(StorageError):
    pass


class StoreClosed(StorageError):
    pass
