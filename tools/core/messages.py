"""Wording that tools and the agent share, so that the agent can find it in a tool's text."""

# a step's summary when its output peaks over full scale (true when it ran; the export says
# whether the written file clipped)
PEAK_WARNING = ("; peaks now reach {peak_db:+.1f} dBFS and will clip in 16/24-bit files "
                "(normalize_loudness adds a true-peak limiter)")
