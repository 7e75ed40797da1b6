"""Scene rendering: voices per role, turn timing, background noise, channel, levels, and the written outputs."""
