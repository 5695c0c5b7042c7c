#define _XOPEN_SOURCE_EXTENDED 1
#include "CTerm.h"
#include <ncursesw/curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

static SCREEN *g_screen = NULL;
static volatile sig_atomic_t g_active = 0;
static volatile sig_atomic_t g_quit = 0;
static int g_colors = 0;

int term_locale_is_utf8(void) {
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

int term_start(int color) {
    setlocale(LC_ALL, "");
    if (!isatty(0) || !isatty(1)) return -1;
    g_screen = newterm(NULL, stdout, stdin);
    if (!g_screen) return -1;
    set_term(g_screen);
    g_active = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25); /* Esc acts at once (ncurses waits 1 s by default for an escape sequence) */
    mousemask(BUTTON1_PRESSED | BUTTON1_CLICKED, NULL); /* clicks select panes and labs */
    mouseinterval(0);
    curs_set(0);
    g_colors = 0;
    if (color && has_colors()) {
        start_color();
        use_default_colors();
        g_colors = COLORS >= 256 ? 256 : (COLORS >= 16 ? 16 : 8);
    }
    return 0;
}

void term_stop(void) {
    if (g_active) {
        g_active = 0;
        curs_set(1);
        endwin();
    }
}

int term_colors(void) { return g_colors; }
int term_rows(void) { return LINES; }
int term_cols(void) { return COLS; }

int term_getch(int timeout_ms) {
    timeout(timeout_ms);
    return getch();
}

/* The next key as a wide character (the locale's multibyte input decoded: é, 😀 arrive whole),
   -1 if none arrived in time. *function is set to 1 for a KEY_* code (arrows, resize, …). */
int term_get_key(int timeout_ms, int *function) {
    timeout(timeout_ms);
    wint_t w = 0;
    int r = get_wch(&w);
    if (r == ERR) return -1;
    *function = (r == KEY_CODE_YES);
    return (int)w;
}

int term_key_delete(void) { return KEY_DC; }
int term_key_mouse(void) { return KEY_MOUSE; }

/* After KEY_MOUSE: the cell of a left-button press or click (returns 0), or -1 for other events. */
int term_mouse(int *x, int *y) {
    MEVENT ev;
    if (getmouse(&ev) != OK) return -1;
    if (!(ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))) return -1;
    *x = ev.x; *y = ev.y;
    return 0;
}
int term_key_home(void) { return KEY_HOME; }
int term_key_end(void) { return KEY_END; }

int term_key_resize(void) { return KEY_RESIZE; }
int term_key_left(void) { return KEY_LEFT; }
int term_key_right(void) { return KEY_RIGHT; }
int term_key_up(void) { return KEY_UP; }
int term_key_down(void) { return KEY_DOWN; }
int term_key_enter(void) { return KEY_ENTER; }
int term_key_backspace(void) { return KEY_BACKSPACE; }

void term_put(int y, int x, uint32_t ch, int fg, int bg, int bold) {
    int pair = 0;
    if (g_colors) {
        if (fg >= g_colors) fg = g_colors > 8 ? fg % g_colors : 7;
        if (bg >= g_colors) bg = g_colors > 8 ? bg % g_colors : 0;
        pair = alloc_pair(fg, bg);
        if (pair < 0) pair = 0;
    }
    wchar_t w[2] = {(wchar_t)ch, 0};
    cchar_t c;
    setcchar(&c, w, bold ? A_BOLD : A_NORMAL, (short)(pair > 32767 ? 0 : pair), &pair);
    mvadd_wch(y, x, &c);
}

void term_refresh(void) { refresh(); }
void term_clear(void) { clear(); }

/* The first SIGINT/SIGTERM asks the app to quit at its next frame; a second one ends the process at
   once (terminal restored first, then the signal's default action). */
static void on_quit(int sig) {
    if (g_quit) {
        endwin();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_quit = sig;
}

static void on_crash(int sig) {
    if (g_active) { g_active = 0; endwin(); }
    signal(sig, SIG_DFL);
    raise(sig);
}

void term_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    struct sigaction sc;
    memset(&sc, 0, sizeof sc);
    sc.sa_handler = on_crash;
    sigemptyset(&sc.sa_mask);
    int crash[] = {SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGABRT, SIGTRAP};
    for (unsigned i = 0; i < sizeof crash / sizeof crash[0]; i++) sigaction(crash[i], &sc, NULL);
}

int term_quit_signal(void) { return g_quit; }
