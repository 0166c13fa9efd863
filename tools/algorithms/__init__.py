"""Algorithms several tools share (AR models, detectors, VAD, speech frames, filler detection, cut
rendering, transcripts). They may import tools.core and tools.models, never a tool module."""
