"""Hyper-parameter search as a stage: an experiment's `tune:` section (`space`) makes an Optuna
study whose trials are ordinary Snakemake jobs (`trial`: one job per trial slot, asking the shared
study with ask/tell and training through the training loop, whose validations report to the
pruner), and whose outcome (`outcome`) is a trials table, the best values ready to paste, two
plots and the best trial's model as the experiment's model.pt.
"""
