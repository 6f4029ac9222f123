"""The perceptive test double: a Backend that LOOKS at the frames it is fed.

A test double (never used in production), stricter than a scripted one: its answers
depend on the pixels, so a test that feeds it the wrong frames gets a wrong answer.

- vision:    find the coloured shapes our synthetic videos contain (`service.video.synth`)
- questions: the small question grammar it understands
- double:    `PerceptiveDouble`, the Backend: grounded traces in the model's exact
             grammar (a configurable share hallucinate) and crop scoring
"""
