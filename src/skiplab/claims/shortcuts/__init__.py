"""Other shortcut topologies beside the residual one: dense connections, highway gates, long-range links in a
plain chain."""
