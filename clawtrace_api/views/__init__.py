"""Pure computations over catalog rows (trees, timelines, call graphs, cursors) and the reads behind them."""
