"""Reference data shipped with tcgraph (States, DAC sectors, SDGs, IATI codes, themes) and its parsers."""
