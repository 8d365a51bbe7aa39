"""One file from read to write: the restoration pipeline and the per-file job."""
