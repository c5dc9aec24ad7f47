"""The embedded demo corpus, synthesized offline: eSpeak NG speech, synthetic noise, simulated
rooms (corpus.py: paired sets in the VoiceBank+DEMAND layout and DNS-style pools) and a small
MUSDB18-style music set (music.py). Nothing in sepflow's core imports this package: its two
recipes (speech_recipe.py, music_recipe.py) are registered by name like any other corpus."""
