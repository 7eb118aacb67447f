"""The raw baseline for bench/e2e_bench.py, run as its own process: the least a hub must do.

A plain paho subscriber (MQTT v5, ``manual_ack``) that takes the agents' scan messages,
inserts their events into the database, commits every 20 ms, then PUBACKs and publishes
the same retained ack the hub publishes (highest contiguous seq). No validation, no dedupe
beyond the primary key, no fleet state, no records.

    python bench/raw_hub.py PORT DB_PATH           # SQLite: WAL, synchronous=FULL
    python bench/raw_hub.py PORT postgresql://...  # PostgreSQL through psycopg, as the hub
"""

from __future__ import annotations

import json
import queue
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

COMMIT_EVERY_S = 0.02


TABLE = (
    "CREATE TABLE IF NOT EXISTS scans (agent TEXT, incarnation TEXT, seq INTEGER, "
    "payload TEXT, PRIMARY KEY (agent, incarnation, seq))"
)


class _Sqlite:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(TABLE)

    def insert(self, rows: list[tuple[str, str, int, str]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR IGNORE INTO scans VALUES (?, ?, ?, ?)", rows)
        self.db.execute("COMMIT")


class _Postgres:
    def __init__(self, url: str) -> None:
        import psycopg  # only this baseline needs it

        self.db = psycopg.connect(url)
        self.db.execute(TABLE)
        self.db.commit()

    def insert(self, rows: list[tuple[str, str, int, str]]) -> None:
        with self.db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO scans VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", rows
            )
        self.db.commit()


def main() -> None:
    port, where = int(sys.argv[1]), sys.argv[2]
    db = _Postgres(where) if where.startswith("postgresql://") else _Sqlite(where)
    inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="raw-hub",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )

    def on_connect(c: mqtt.Client, *args: Any) -> None:
        c.subscribe("scantrail/v1/agents/+/scans", qos=1)

    client.on_connect = on_connect
    client.on_message = lambda c, u, msg: inbox.put(msg)
    client.connect("127.0.0.1", port)
    client.loop_start()
    confirmed: dict[tuple[str, str], int] = {}
    held: dict[tuple[str, str], set[int]] = {}
    print("ready", flush=True)
    while True:
        deadline = time.monotonic() + COMMIT_EVERY_S
        batch = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(inbox.get(timeout=left))
            except queue.Empty:
                break
        if not batch:
            continue
        rows = []
        touched = set()
        for msg in batch:
            body = json.loads(msg.payload)
            key = (body["agent_id"], body["incarnation"])
            touched.add(key)
            for event in body["events"]:
                rows.append((key[0], key[1], event["seq"], json.dumps(event)))
                held.setdefault(key, set()).add(event["seq"])
        db.insert(rows)
        for msg in batch:
            client.ack(msg.mid, msg.qos)
        for key in touched:
            seq, seqs = confirmed.get(key, 0), held[key]
            while seq + 1 in seqs:
                seq += 1
                seqs.discard(seq)
            confirmed[key] = seq
            ack = {
                "agent_id": key[0],
                "incarnation": key[1],
                "confirmed_seq": seq,
                "hub_time": datetime.now(UTC).isoformat(),
            }
            topic = f"scantrail/v1/agents/{key[0]}/ack"
            client.publish(topic, json.dumps(ack).encode(), qos=1, retain=True)


if __name__ == "__main__":
    main()
