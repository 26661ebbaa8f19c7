"""Bot runtime: what happens inside one execution."""
