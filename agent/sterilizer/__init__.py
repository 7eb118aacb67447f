"""The sterilizer's own record, read from its serial port (issue 32; docs/sterilizers.md)."""
