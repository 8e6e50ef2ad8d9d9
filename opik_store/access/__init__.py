"""Access profiles: query-limit settings profiles, quotas, roles and users.

``model`` loads and validates the TOML model over the shipped defaults
(``defaults/profiles.toml``); ``sql`` plans and applies it as SQL against live
system tables; ``users_xml`` renders it as a users.d file; ``profiles``
(``QueryProfiles``) gives backend code the settings of each purpose.

May import: ``opik_store.errors``, ``opik_store.config`` and ``opik_store.engine``.
"""
