/**
 * The shell side of `rehearse completion`: the data functions (_rehearse_commands, _rehearse_options,
 * _rehearse_value_kind) are generated from commander's definition; these read them.
 */

/** Plain POSIX shell that bash and zsh share: where the words before the cursor leave the command line. */
const SCAN = `# Walks the words before the cursor: the command path, the kind of value the last option awaits,
# and the evidence root (--evidence-root, else the default) whose directories are the bundles.
_rehearse_scan() {
  _rehearse_path='' _rehearse_kind='' _rehearse_root='dist/staging/backfill'
  local word option=''
  for word in "$@"; do
    if [ -n "$_rehearse_kind" ]; then
      [ "$option" = --evidence-root ] && _rehearse_root=$word
      _rehearse_kind=''
      continue
    fi
    case $word in
      --evidence-root=*) _rehearse_root=\${word#*=} ;;
      --*=*) ;;
      -*) option=$word; _rehearse_kind=$(_rehearse_value_kind "$_rehearse_path:$word") ;;
      *) case " $(_rehearse_commands "$_rehearse_path") " in
           *" $word "*) _rehearse_path=\${_rehearse_path:+$_rehearse_path }$word ;;
         esac ;;
    esac
  done
}`;

export const BASH_DRIVER = `${SCAN}

_rehearse_bundles() {
  local dir
  for dir in "$_rehearse_root"/*/; do [ -d "$dir" ] && printf '%s\\n' "\${dir%/}"; done
}

_rehearse_complete() {
  local cur=\${COMP_WORDS[COMP_CWORD]} kind
  _rehearse_scan "\${COMP_WORDS[@]:1:COMP_CWORD-1}"
  kind=$_rehearse_kind
  COMPREPLY=()
  if [ -z "$kind" ]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$(_rehearse_options "$_rehearse_path")" -- "$cur"))
      return 0
    fi
    COMPREPLY=($(compgen -W "$(_rehearse_commands "$_rehearse_path")" -- "$cur"))
    [ \${#COMPREPLY[@]} -gt 0 ] && return 0
    kind=$(_rehearse_value_kind "$_rehearse_path:")
  fi
  case $kind in
    bundle)
      COMPREPLY=($(compgen -W "$(_rehearse_bundles)" -- "$cur"))
      if [ \${#COMPREPLY[@]} -eq 0 ]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
      fi ;;
    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    words\\ *) COMPREPLY=($(compgen -W "\${kind#words }" -- "$cur")) ;;
  esac
  return 0
}

complete -F _rehearse_complete rehearse`;

export const ZSH_DRIVER = `${SCAN}

_rehearse() {
  local cur=\${words[CURRENT]} kind
  _rehearse_scan "\${(@)words[2,CURRENT-1]}"
  kind=$_rehearse_kind
  if [[ -z $kind ]]; then
    if [[ $cur == -* ]]; then
      compadd -- \${=$(_rehearse_options "$_rehearse_path")}
      return
    fi
    local -a subcommands
    subcommands=(\${=$(_rehearse_commands "$_rehearse_path")})
    if (( \${#subcommands} )); then
      compadd -- $subcommands
      return
    fi
    kind=$(_rehearse_value_kind "$_rehearse_path:")
  fi
  case $kind in
    bundle)
      local -a bundles
      bundles=($_rehearse_root/*(N/))
      if (( \${#bundles} )); then compadd -- $bundles; else _files -/; fi ;;
    dir) _files -/ ;;
    file) _files ;;
    words\\ *) compadd -- \${=kind#words } ;;
  esac
}

if ! (( $+functions[compdef] )); then autoload -Uz compinit && compinit; fi
compdef _rehearse rehearse`;
