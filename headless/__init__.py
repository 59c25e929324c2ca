"""Headless generation: the command line and the render farm (broker, workers, job table).

Nothing here imports `bpy` except the worker's render step.
"""
