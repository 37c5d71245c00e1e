"""tcgraph: the Technical Cooperation Graph service."""
