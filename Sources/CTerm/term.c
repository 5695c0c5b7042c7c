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
static int g_utf8 = 1; /* whether the locale decodes UTF-8 input (set by term_start) */

int term_locale_is_utf8(void) {
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

int term_start(int color) {
    setlocale(LC_ALL, "");
    if (!isatty(0) || !isatty(1)) return -1;
    g_utf8 = term_locale_is_utf8();
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
int term_decode_utf8(const int *bytes, int n, int *used) {
    *used = 1;
    if (n < 1) return -1;
    const int c = bytes[0];
    const int need = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
    if (need == 0 || n < 1 + need) return c;
    int cp = c & (0x3F >> need);
    for (int i = 1; i <= need; i++) {
        if ((bytes[i] & 0xC0) != 0x80) return c;
        cp = (cp << 6) | (bytes[i] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (cp >= 0xD800 && cp <= 0xDFFF) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
        return c;
    *used = 1 + need;
    return cp;
}

/* Without a UTF-8 locale get_wch cannot decode what a UTF-8 terminal sends: é arrived as two bytes
   that were dropped, and a paste lost everything after them. So bytes are read and decoded here
   (term_decode_utf8); the bytes a character did not use are read again as the next keys. */
static int get_byte_key(int *function) {
    int c = getch();
    if (c == ERR) return -1;
    *function = c >= KEY_MIN;
    if (c >= KEY_MIN || c < 0x80) return c;
    int bytes[4] = {c, 0, 0, 0}, n = 1;
    timeout(20); /* the rest of a character arrives with its first byte */
    while (n < 4) {
        const int d = getch();
        if (d == ERR) break;
        if (d >= KEY_MIN || (d & 0xC0) != 0x80) {
            ungetch(d);
            break;
        }
        bytes[n++] = d;
    }
    int used = 1;
    const int cp = term_decode_utf8(bytes, n, &used);
    for (int i = n - 1; i >= used; i--) ungetch(bytes[i]);
    return cp;
}

int term_get_key(int timeout_ms, int *function) {
    timeout(timeout_ms);
    if (!g_utf8) return get_byte_key(function);
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
