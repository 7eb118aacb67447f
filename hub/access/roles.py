"""Roles and permissions. Pure: the web edge asks ``allows``; nothing here reads a request.

Every API route declares one permission (hub/web/guard.py); a role holds a set of them.
One table, so "who may read the audit trail" has one answer, and a route without a
declared permission cannot be built.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything, including tokens and reference data
    OPERATOR = "operator"  # runs the hub: fleet sync, raw scans, dead letters (reads them)
    TECH = "tech"  # sterile processing and porters: records and alerts
    VIEWER = "viewer"  # department leads and auditors: reads records, alerts, audit
    AGENT = "agent"  # a station: reference data only


class Permission(StrEnum):
    READ_RECORDS = "records:read"  # records, cases, recalls, where an asset is, alerts
    READ_AUDIT = "audit:read"
    READ_FLEET = "fleet:read"  # agents and the hub's status
    READ_SCAN_LOG = "scans:read"  # raw scans and dead letters: payloads as sent
    READ_REFERENCE = "reference:read"
    READ_SCHEMA = "schema:read"  # the OpenAPI schema and its docs page
    ACK_ALERTS = "alerts:acknowledge"
    ENTER_LOAD_FIELDS = "loads:write"  # exposure, releaser: where no command barcode is used
    MANAGE_REFERENCE = "reference:write"  # the catalogue, recipes, locations, staff, cases
    REPLAY_DEAD_LETTERS = "dead-letters:replay"
    READ_METRICS = "metrics:read"  # /metrics; a configured scrape token may read it too
    MANAGE_ACCESS = "access:write"  # people and their sessions: list, disable, end


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # An operator acknowledges; an admin manages (changes what the hub holds as true).
    Role.OPERATOR: frozenset(Permission)
    - {
        Permission.MANAGE_REFERENCE,
        Permission.REPLAY_DEAD_LETTERS,
        Permission.READ_METRICS,
        Permission.MANAGE_ACCESS,
    },
    Role.TECH: frozenset(
        {
            Permission.ACK_ALERTS,
            Permission.ENTER_LOAD_FIELDS,
            Permission.READ_RECORDS,
            Permission.READ_FLEET,
            Permission.READ_REFERENCE,
            Permission.READ_SCHEMA,
        }
    ),
    Role.VIEWER: frozenset(
        {
            Permission.READ_RECORDS,
            Permission.READ_AUDIT,
            Permission.READ_FLEET,
            Permission.READ_REFERENCE,
            Permission.READ_SCHEMA,
        }
    ),
    Role.AGENT: frozenset({Permission.READ_REFERENCE, Permission.READ_SCHEMA}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]
