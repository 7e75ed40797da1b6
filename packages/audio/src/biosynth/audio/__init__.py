"""biosynth audio: text-to-speech backends and clinical scene rendering."""
