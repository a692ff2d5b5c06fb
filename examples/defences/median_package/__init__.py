"""A purifier written as a package of two files: `purifier.py` holds the factory the config
names, `filters.py` the filter it uses. The workflow imports it as a package (its parent
folder on the import path), and every .py file of it is an input of the defence's jobs, so
editing filters.py reruns them:

    defences:
      median:
        callable: examples/defences/median_package/purifier.py:median_purifier
        returns: purifier
        datasets: [mnist, fashion-mnist]
        settings: {size: 3}
        stochastic: false
        differentiable: true
"""
