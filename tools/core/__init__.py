"""The audio core: the Audio type and file I/O, sessions and their block store, DSP building blocks,
overlap-add, the error taxonomy and the Tool record. It imports nothing from the rest of tools/."""
