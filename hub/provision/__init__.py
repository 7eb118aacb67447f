"""Setting up the broker's security and each Pi's identity: a site CA, the broker's TLS
certificate, its password and ACL files, and a ready bundle per agent
(docs/provisioning.md)."""
