"""Pages: Markdown, CSV, JUnit and HTML writers, charts, and the run report. They render, never judge."""
