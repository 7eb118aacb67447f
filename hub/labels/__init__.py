"""Printable labels: what each label says (``content``) and how a sheet of them is drawn
(``render``) as PDF or SVG, in A4 or US Letter."""
