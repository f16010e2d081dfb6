"""Tracy, the analyst agent: its system prompt (`prompt.py`), tools (`tools.py`, `charts.py`) and agent loop
(`loop.py`) on the Anthropic Messages API. The HTTP routes and the MCP server build on these."""
