"""The core every claim builds on: the claim contract (contract.py), scale resolution (scale.py), the run engine
(engine.py), statistics (stats.py) and `reproduce()` (reproduce.py). It knows no claim."""
