"""Getting bytes: polite HTTP, the content-addressed raw store, and the fetch log."""
