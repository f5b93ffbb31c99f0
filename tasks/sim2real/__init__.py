"""The sim2real family: control policies trained under one setting of a simulator's dynamics, scored under another.

:mod:`tasks.sim2real.dynamics` is the perturbation layer (masses, friction, joint damping and
friction, motor strength, gravity, latency, noise) that works on any PyBullet-based gymnasium
environment. It imports pybullet and gymnasium, so nothing is imported here: discovery stays cheap.
"""
