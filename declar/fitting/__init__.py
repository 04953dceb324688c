"""`declar fit`: training a spec or resuming an archive, one step per module.

- `run`: the whole job: the model to train, its data, the options, the callbacks, `model.fit`,
  the atomic save and the history.
- `progress`: what the user sees while training (Keras's bar on a terminal, plain lines when piped).
- `history`: the loss and metric curves written next to the archive.
- `resume`: starting again after a kill, from the last completed epoch.

The data sources are `declar.training_data`; the training section's options and callbacks are
`declar.sections.training`.
"""
