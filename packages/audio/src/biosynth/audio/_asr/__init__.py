"""The per-utterance ASR check: offline Whisper transcribes each synthesised turn; WER against its script."""
