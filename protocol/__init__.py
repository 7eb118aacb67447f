"""The wire contract between agents and the hub, and the barcode grammar.

Pure: depends only on the standard library, pydantic and biip.
"""

WIRE_VERSION = 1
