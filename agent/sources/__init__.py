"""Scanner sources, one file per driver. Each hands raw reads to ``Intake.submit``."""
