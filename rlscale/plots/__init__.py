"""Figure functions that draw the paper's plots; each returns its matplotlib figure."""
