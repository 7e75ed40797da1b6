"""TTS voices: components of kind `tts_voice` (piper, espeak-ng, Coqui TTS)."""
