{
  # Paths here are relative to this file (gyp resolves includes that way).
  "sources": ["main.c"]
}
