"""The schema and its rendering: ddl/ loading, statement parsing, rendering, lint, shapes.

``ddl`` reads the canonical table definitions; ``parse`` tokenizes and
classifies one statement; ``render`` turns a single-node statement into the
exact SQL for a database and topology; ``lint`` names every way a statement
can lose or reshape data; ``shapes`` reads live tables and compares them with
rendered definitions.

May import: ``opik_store.errors``, ``opik_store.resources``, ``opik_store.config``
and ``opik_store.engine``.
"""
