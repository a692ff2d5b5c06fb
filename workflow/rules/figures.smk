# The paper's figures, drawn from tables only: restyling a figure reruns no computation.


rule figure_table:
    input:
        figure_accuracy_files,
    output:
        table=report(
            "results/tables/accuracy_{figure}.csv",
            caption="../report/figure_table.rst",
            category="{figure}",
            labels={"item": "table"},
        ),
        sanity=report(
            "results/tables/sanity_{figure}.csv",
            caption="../report/sanity_table.rst",
            category="{figure}",
            labels={"item": "sanity checks"},
        ),
    log:
        "logs/tables/accuracy_{figure}.log",
    conda:
        "../../envs/aedefense.yaml"
    params:
        rows=figure_table_rows,
        sanity=sanity_params,
    script:
        "../scripts/figure_table.py"


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
    conda:
        "../../envs/aedefense.yaml"
    params:
        figure_params,
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
        "../../envs/aedefense.yaml"
    params:
        datasets=list(config["datasets"]),
        style=slices.figure_style(as_plain(config), "fig5"),
    script:
        "../scripts/latent_figure.py"
