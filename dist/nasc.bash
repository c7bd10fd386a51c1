# bash completion for nasc — installed as share/bash-completion/completions/nasc.
# Commands and their options come from the installed binary's own help (`nasc --help`,
# `nasc CMD --help`), so the completion never falls behind the program.
_nasc() {
    local cur prev cmd
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        local cmds
        cmds=$("${COMP_WORDS[0]}" --help 2>/dev/null | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1}')
        COMPREPLY=($(compgen -W "$cmds --help --version -V" -- "$cur"))
        return
    fi
    cmd="${COMP_WORDS[1]}"
    case "$prev" in
    --model|--out|--db|--config|--checkpoint|--log-steps|--logits|--image|--calibration)
        COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --space)
        COMPREPLY=($(compgen -W "nb201 darts chain mobilenet macro morph" -- "$cur")); return ;;
    --data)
        COMPREPLY=($(compgen -W "fashion-mnist fashion-mnist: mnist: cifar10: cifar100:" -- "$cur")); return ;;
    esac
    if [[ "$cur" == -* ]]; then
        local opts
        opts=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -oE '^  --[a-z0-9-]+' | tr -d ' ')
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _nasc nasc
