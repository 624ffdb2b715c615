"""National data lakehouse: shared settings and the data engineers' command-line tool."""
