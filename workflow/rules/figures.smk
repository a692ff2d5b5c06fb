# The paper's figures, drawn from tables only: restyling a figure reruns no computation.


rule accuracy_figure:
    input:
        "results/tables/accuracy_{figure}.csv",
    output:
        pdf=report(
            "results/figures/{figure}.pdf",
            caption="../report/accuracy_figure.rst",
            category="{figure}",
            labels={"item": "figure"},
        ),
        png="results/figures/{figure}.png",
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure="|".join([*grid.ACCURACY_FIGURES, *config["comparison_figures"]]),
    conda:
        ENVIRONMENT
    params:
        layouts=accuracy_figure_param("layouts"),
        grids=accuracy_figure_param("grids"),
        attacks=accuracy_figure_param("attacks"),
        datasets=accuracy_figure_param("datasets"),
        style=accuracy_figure_param("style"),
        run=RUN_LABEL,
    script:
        "../scripts/accuracy_figure.py"


rule latent_figure:
    input:
        "results/tables/latent.csv",
    output:
        pdf=report(
            "results/figures/fig5.pdf",
            caption="../report/fig5.rst",
            category="fig5",
            labels={"item": "figure"},
        ),
        png="results/figures/fig5.png",
        diameters=report(
            "results/figures/fig5_diameters.csv",
            caption="../report/fig5_diameters.rst",
            category="fig5",
            labels={"item": "code-set diameters"},
        ),
    log:
        "logs/figures/fig5.log",
    conda:
        ENVIRONMENT
    params:
        datasets=list(config["datasets"]),
        style=figure_style(PLAIN_CONFIG, "fig5"),
        run=RUN_LABEL,
    script:
        "../scripts/latent_figure.py"


# Every configured defence, built-in and user, under the comparison's attack, each labelled
# with its health verdicts: building it builds their health rows too.
rule defences_figure:
    input:
        table="results/tables/accuracy_defences.csv",
        health="results/tables/health_defences.csv",
    output:
        pdf=report(
            "results/figures/defences.pdf",
            caption="../report/defences_figure.rst",
            category="defences",
            labels={"item": "figure"},
        ),
        png="results/figures/defences.png",
    log:
        "logs/figures/defences.log",
    conda:
        ENVIRONMENT
    params:
        attack=config["defence_comparison"]["attack"],
        datasets=list(config["datasets"]),
        style=figure_style(PLAIN_CONFIG, grid.DEFENCES_FIGURE),
        run=RUN_LABEL,
        labels=defence_labels(),
    script:
        "../scripts/defences_figure.py"
