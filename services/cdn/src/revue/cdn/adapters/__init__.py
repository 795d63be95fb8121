"""What the cdn reaches outside itself: its tables, the asset store on disk, purge back ends."""
