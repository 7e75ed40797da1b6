"""Audio metrics: spoken scenes (biosynth-audio's `dialogue_audio` records, or any audio records with timed
segments) scored for intelligibility (ASR WER/CER), achieved SNR, speaker distinctness, durations and speaking
rate, and a Fréchet audio distance; run together by the audio suite, with players for a few samples.

Records, transcripts and media are read through core (`Record`, `SyntheticDataset`, `MediaRef`): this package
never imports biosynth-audio.
"""
