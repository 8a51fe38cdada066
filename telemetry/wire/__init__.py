"""What the client (shell) and the service both need, below both: the JSON form of
records and buffer files, the stored timestamp format, the SQLite table's schema and its
metrics query, and the safe text of an error. Imports only core, effects, the standard
library, attrs and orjson."""
