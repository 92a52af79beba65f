"""Energy-harvesting simulation of a batteryless device: harvested power
traces (traces.py) and the power path from harvester to MCU with exact
energy bookkeeping (energy.py)."""
