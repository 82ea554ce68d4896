"""Network/accelerator co-search: fixed-statistics hardware search (`search`), the bilevel
joint search with hardware-aware training (`joint`), and the `spikex cosearch` command."""
