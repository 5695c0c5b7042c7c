// CTerm: the ncursesw calls Orrery needs, behind plain C functions (ncurses' macros and globals do
// not import into Swift cleanly), plus the terminal-restoring signal handlers. Only TerminalUI uses it.
#ifndef ORRERY_CTERM_H
#define ORRERY_CTERM_H
#include <stdint.h>

/// Starts ncurses on the controlling terminal with newterm (never initscr, which exits on failure).
/// Returns 0, or -1 if the terminal cannot be initialised (unknown TERM, not a tty).
/// `color`: 1 to use colours when the terminal has them.
int term_start(int color);
/// Restores the terminal (endwin). Safe to call twice.
void term_stop(void);
/// Whether colours are in use, and how many (8, 16, 256).
int term_colors(void);
int term_rows(void);
int term_cols(void);
/// Next key (ncurses code; -1 when none arrived within `timeout_ms`).
int term_getch(int timeout_ms);
int term_get_key(int timeout_ms, int *function);
/// One character from the bytes a terminal sent, for a locale that cannot decode them: the UTF-8
/// sequence at bytes[0] (*used set to its length), or bytes[0] itself as Latin-1 (*used = 1) when
/// no valid sequence starts there.
int term_decode_utf8(const int *bytes, int n, int *used);
int term_key_delete(void);
int term_key_mouse(void);
int term_mouse(int *x, int *y);
int term_key_home(void);
int term_key_end(void);
/// Key codes Swift cannot see as macros.
int term_key_resize(void);
int term_key_left(void);
int term_key_right(void);
int term_key_up(void);
int term_key_down(void);
int term_key_enter(void);
int term_key_backspace(void);
/// Draws one cell: a Unicode scalar with foreground/background colour indices (-1 = default).
void term_put(int y, int x, uint32_t ch, int fg, int bg, int bold);
void term_refresh(void);
void term_clear(void);

/// Installs handlers: SIGINT/SIGTERM/SIGHUP set the quit flag; SEGV/ILL/BUS/FPE/ABRT/TRAP restore
/// the terminal, reset to the default action and re-raise.
void term_install_signal_handlers(void);
/// 0, or the signal number that asked the app to quit.
int term_quit_signal(void);
/// Whether the locale's character set is UTF-8 (after setlocale).
int term_locale_is_utf8(void);
#endif
